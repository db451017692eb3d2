"""Bill documents: render and store an issued bill's PDF, then tell the customer it is ready.

Enqueued by the bill run after issue (``run._enqueue_documents``), one task per bill id.
Idempotent: a stored PDF is not rendered again and each member is notified once per bill.
"""

from __future__ import annotations

from celery import shared_task

from apps.billing import pdf


@shared_task(
    name="billing.render_bill_pdf",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    time_limit=300,
    soft_time_limit=240,
)
def render_bill_pdf(bill_id: int) -> bool:
    """Render + store the PDF of bill ``bill_id`` and notify its account's members.

    Returns False (and does nothing) for a bill that does not exist or is not issued.
    """
    return pdf.bill_pdf_publish(bill_id=bill_id)
