"""A message's files for signed-in agents: the file itself (inline only when a browser can show it
without running it, see helpdesk/tickets/attachments.py) and the thumbnail of an image."""
from __future__ import annotations

from pathlib import Path

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import thumbnails
from helpdesk.files import blob_path
from helpdesk.models import Agent, Attachment
from helpdesk.paths import static_dir
from helpdesk.settings import Settings
from helpdesk.tickets import actions as tickets
from helpdesk.tickets import attachments

# The thumbnail's URL names the file's sha256 (templates/console/_message_files.html): the same URL
# is always the same picture.
IMMUTABLE = "private, max-age=31536000, immutable"
UNREADABLE = "attachment-unreadable.svg"


async def _stored(db: AsyncSession, settings: Settings, attachment_id: int) -> tuple[Attachment, Path]:
    attachment = await tickets.load_attachment(db, attachment_id)
    if attachment is None:
        raise NotFoundException("there is no such attachment")
    path = blob_path(settings.attachments_dir, attachment.sha256)
    if not path.is_file():
        raise NotFoundException("the attachment's file is missing from storage")
    return attachment, path


class AttachmentController(Controller):
    path = "/attachments"

    @get("/{attachment_id:int}", name="attachment")
    async def file(self, db: AsyncSession, agent: Agent, settings: Settings, attachment_id: int,
                   download: bool = False) -> File:
        """The file as stored; `?download=1` always as a download."""
        attachment, path = await _stored(db, settings, attachment_id)
        how = attachments.delivery(attachment.content_type, download=download)
        return File(path=path, filename=attachment.filename, media_type=how.media_type,
                    content_disposition_type=how.disposition, encoding=how.charset,
                    headers={**how.headers, "Cache-Control": "private, max-age=3600"})

    @get("/{attachment_id:int}/thumbnail/{sha256:str}", name="attachment_thumbnail")
    async def thumbnail(self, db: AsyncSession, agent: Agent, settings: Settings, attachment_id: int,
                        sha256: str) -> File:
        """A raster image's thumbnail (WebP), made on first request; a placeholder if it cannot be read."""
        attachment, path = await _stored(db, settings, attachment_id)
        if attachment.sha256 != sha256 or attachments.kind(attachment.content_type) != "image":
            raise NotFoundException("this attachment has no such thumbnail")
        headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": attachments.SANDBOX}
        made = await thumbnails.cached_thumbnail(settings.thumbnails_dir, path, sha256)
        if made is None:  # unreadable: the reason is in the log; the picture may be fixed by a newer Pillow
            return File(path=static_dir() / UNREADABLE, media_type="image/svg+xml", content_disposition_type="inline",
                        headers={**headers, "Cache-Control": "private, max-age=3600"})
        return File(path=made, filename=f"{attachment.id}-thumbnail.webp", media_type="image/webp",
                    content_disposition_type="inline", headers={**headers, "Cache-Control": IMMUTABLE})
