# Memory reserved at boot for the till's long-lived buffers.
#
# main.py calls buffers() first, before it imports the rest of the firmware:
# after the imports and the journal's recovery the heap is fragmented into free
# blocks of a kilobyte or two (measured on the sim till: 53 KB free, the largest
# block 1.6 KB), and a buffer that grows with a long sale or receipt could no
# longer find room. The journal encodes every record into the first buffer
# (cbor.dumps_into), the receipt layout builds every receipt in the second.
RECORD_BYTES = 8192  # the journal's largest record (journal._MAX_RECORD_BYTES)
RECEIPT_BYTES = 4096  # a long receipt with its QR code; a longer one grows it


def buffers():
    return bytearray(RECORD_BYTES), bytearray(RECEIPT_BYTES)
