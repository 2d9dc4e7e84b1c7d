# The till's firmware version, reported to the gateway in the link's hello.
FIRMWARE = "0.1.0"
