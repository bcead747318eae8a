"""PDF reports: the press impact report, donors' receipts and the treasurer's monthly report.

``press.build``, ``receipt.build`` and ``monthly.build`` take a frozen snapshot of plain data
from the ledger's figures; ``render`` turns a snapshot into a PDF with WeasyPrint; ``charts``
draws its SVG.
"""
