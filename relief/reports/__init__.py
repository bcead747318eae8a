"""PDF reports: the press impact report and donors' receipts.

``press.build`` and ``receipt.build`` take a frozen snapshot of plain data from the ledger's
figures; ``render`` turns a snapshot into a PDF with WeasyPrint; ``charts`` draws its SVG.
"""
