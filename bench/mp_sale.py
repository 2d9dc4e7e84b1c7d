# The benchmarks' sale: a realistic 3-line cash sale body as the journal stores it.
def sale(n):
    return {
        1: n,  # receipt number
        2: 3,  # cashier
        3: [  # lines: gtin, qty (milli-units), unit price, amount, tax class
            [4006381333931, 1000, 249, 249, 1],
            [20012345, 1000, 1299, 1299, 2],
            [7310865004703, 2000, 115, 230, 1],
        ],
        4: 1778,  # total
        5: [[1, 2000, 222]],  # tenders: cash given 20.00, change 2.22
        6: {1: [1, 479, 31], 2: [2, 1299, 85]},  # tax per class: net, tax
    }
