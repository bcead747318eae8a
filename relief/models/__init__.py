"""Tables, by domain. Money is integer cents in the drive's currency; times are timezone-aware
UTC.

The ledger (``Entry``) is append-only: every figure shown anywhere is derived from it.
``Total``, ``DailyTotal``, ``MonthTotal``, ``ReceivedTotal`` and ``LinkTotal`` are running
sums maintained in the same transaction as each entry, so pages never sum gifts;
``ledger.verify`` proves them equal to the entries. Import tables from here
(``from relief.models import Gift``): Alembic and the app see every table once this package
is imported.
"""

from relief.models.accounts import (
    AccountLink,
    AuditEvent,
    LinkPurpose,
    Membership,
    RateLimitCounter,
    RecoveryCode,
    Role,
    SignInFailure,
    SignInSession,
    User,
)
from relief.models.base import metadata, new_public_id, present, table_of, utcnow
from relief.models.drives import (
    Chapter,
    Drive,
    DriveChapter,
    DriveImage,
    PartnerReport,
    PartnerReportRemittance,
)
from relief.models.gifts import (
    CARD_PAYMENT,
    ONLINE_METHODS,
    DonorLink,
    Gift,
    GiftMethod,
    GiftStatus,
    MonthlyGift,
)
from relief.models.jobs import Job, JobStatus
from relief.models.ledger import (
    DailyTotal,
    Entry,
    EntryKind,
    LinkTotal,
    MonthTotal,
    ReceivedTotal,
    SumsZone,
    Total,
)
from relief.models.matches import MatchCounts, MatchPayment, MatchPledge
from relief.models.members import MemberLink, MemberPage
from relief.models.organization import ReceiptSettings
from relief.models.privacy import ErasedDonor, email_key, normalise_email
from relief.models.stripe import (
    KeptEvent,
    ParkedEvent,
    Payout,
    PayoutTransaction,
    StripeEvent,
    StripeRefund,
)
from relief.models.treasury import (
    AccountRole,
    BankLine,
    BatchLine,
    BatchStatus,
    ChartAccount,
    DepositBatch,
    DirectGift,
    FormPurpose,
    FormToken,
    MonthClose,
    Remittance,
)

__all__ = [
    "CARD_PAYMENT",
    "AccountLink",
    "AccountRole",
    "ChartAccount",
    "AuditEvent",
    "DonorLink",
    "BankLine",
    "BatchLine",
    "BatchStatus",
    "Chapter",
    "DailyTotal",
    "DepositBatch",
    "DirectGift",
    "FormPurpose",
    "FormToken",
    "Drive",
    "DriveChapter",
    "DriveImage",
    "Entry",
    "EntryKind",
    "ErasedDonor",
    "Gift",
    "GiftMethod",
    "GiftStatus",
    "Job",
    "LinkPurpose",
    "MatchCounts",
    "MatchPayment",
    "MatchPledge",
    "RecoveryCode",
    "JobStatus",
    "MemberLink",
    "MemberPage",
    "LinkTotal",
    "Membership",
    "MonthClose",
    "MonthTotal",
    "ONLINE_METHODS",
    "SumsZone",
    "MonthlyGift",
    "ParkedEvent",
    "KeptEvent",
    "PartnerReport",
    "PartnerReportRemittance",
    "Payout",
    "PayoutTransaction",
    "ReceiptSettings",
    "ReceivedTotal",
    "RateLimitCounter",
    "Remittance",
    "Role",
    "SignInFailure",
    "SignInSession",
    "StripeEvent",
    "StripeRefund",
    "Total",
    "User",
    "email_key",
    "metadata",
    "new_public_id",
    "normalise_email",
    "present",
    "table_of",
    "utcnow",
]
