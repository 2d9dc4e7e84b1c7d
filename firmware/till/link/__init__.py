# The till's link to the store's gateway: framing (frame.py), the reliable
# channel (channel.py), the operations (ops.py: the wire format of each request
# and reply, shared with the gateway's client), the till's side of a session
# (server.py) and the journal cursor that streams records (cursor.py).
# All of it is sans-I/O: bytes in, bytes out, time passed in; transports live
# in till/drivers/linkport.py (device) and host_tools/gateway/link_client.py.
