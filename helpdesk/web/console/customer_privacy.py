"""The customer page's GDPR actions, for admins: "Export data" (the zip of everything held about the
customer) and "Erase personal data" (irreversible: the admin types the customer's number to confirm).
The work is helpdesk/customers/gdpr.py's, as for `helpdesk customers export|erase`."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import NotFoundException, ValidationException
from litestar.response import File, Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import gdpr
from helpdesk.customers.records import CustomerError, load_customer_view
from helpdesk.models import Agent
from helpdesk.settings import Settings
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, form_rejected, go, is_htmx

PART = "console/_customer_privacy.html"


@dataclass
class EraseForm:
    confirm: str = ""  # the customer's number, typed


class CustomerPrivacyController(Controller):
    path = "/customers"
    guards = [admin_only]

    @get("/{customer_id:int}/export", name="customer_export")
    async def export(self, db: AsyncSession, agent: Agent, settings: Settings, customer_id: int) -> File:
        """The zip as a download; its temporary file is removed once sent."""
        folder = settings.data_dir / "exports"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"customer-{customer_id}-", suffix=".zip", dir=folder)
        os.close(fd)
        path = Path(name)
        try:
            summary = await gdpr.export_customer(db, settings, customer_id, path)
        except CustomerError as error:
            path.unlink(missing_ok=True)
            raise NotFoundException(str(error)) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return File(path=path, filename=f"customer-{summary.customer_id}.zip", media_type="application/zip",
                    headers={"Cache-Control": "no-store"}, background=BackgroundTask(path.unlink, missing_ok=True))

    @post("/{customer_id:int}/erase", name="customer_erase")
    async def erase(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings, customer_id: int,
                    data: Annotated[EraseForm, FORM]) -> Response | Template:
        if data.confirm.strip().lstrip("#") != str(customer_id):
            message = f"Type {customer_id} to confirm: nothing was erased."
            if not is_htmx(request):
                raise ValidationException(message)
            view = await load_customer_view(db, customer_id)
            if view is None:
                raise NotFoundException(f"there is no customer {customer_id}")
            return await form_rejected(request, db, agent, {"agent": agent, "customer_view": view,
                                                            "erase_error": message}, page=PART, part=PART)
        try:
            erasure = await gdpr.erase_customer(db, settings, customer_id, agent_id=agent.id)
        except CustomerError as error:
            raise NotFoundException(str(error)) from None
        return go(request, f"/console/customers/{erasure.customer_id}")
