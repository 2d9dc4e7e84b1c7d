# The till's link to the store's gateway, sans-I/O (bytes in, bytes out, time
# passed in): wire.py (frames and the reliable channel), ops.py (each
# request's and reply's format, shared with the gateway's client), server.py
# (the till's side of a session, and the journal cursor that streams records),
# stream.py (the gateway's side of the record stream; the till never loads it).
# Transports: till/drivers/linktcp.py and linkserial.py on the till,
# host_tools/gateway/link_client.py on the gateway. docs/link.md.
