"""sendPhoto and sendDocument by URL or file_id: the files Telegram has, the URLs it cannot
fetch, and the PhotoSize and Document objects it answers with. Uploads (multipart bodies) are
not emulated."""

from __future__ import annotations

import mimetypes
import posixpath
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from bot.testing.entities import checked_entities
from bot.testing.formatting import check_caption, visible_caption
from bot.testing.links import url_problem
from bot.testing.model import ApiError, JSONDict, StoredFile
from bot.testing.sending import Outbox

KINDS = ("photo", "document")
# The sizes Telegram makes of a photo (the longest side 90, 320 and 800 pixels), for a 4:3 one.
PHOTO_SIZES = (("s", 90, 67), ("m", 320, 240), ("x", 800, 600))
# Telegram's file_ids are base64url and never contain a '.': the Bot API reads a value with one
# as a URL. These prefixes are those of real photo and document ids.
FILE_ID_PREFIX = {"photo": "AgACAgEmu", "document": "BQACAgEmu"}
UNIQUE_ID_PREFIX = {"photo": "AQAD", "document": "AgAD"}
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"


class MediaMethods(Outbox):
    """sendPhoto, sendDocument, and the files behind them (refuse_media, add_file)."""

    def refuse_media(self, url: str) -> None:
        """Telegram cannot use `url` (gone, too big, not an image, ...): sendPhoto and
        sendDocument with it answer 400 "wrong file identifier/HTTP URL specified"."""
        with self._changed:
            self._state.refused_urls.add(url)

    def add_file(self, file_id: str, *, kind: str = "photo") -> None:
        """A file Telegram already has (sent before the test began, say): from now on
        `file_id` is accepted as a `kind` ("photo" or "document")."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not file_id or "." in file_id:
            raise ValueError(f"{file_id!r} is no file_id: the Bot API reads a '.' as a URL")
        with self._changed:
            state = self._state
            number = state.next_file
            state.next_file += 1
            unique_id = f"{UNIQUE_ID_PREFIX[kind]}{number:06d}"
            state.files[file_id] = StoredFile(
                kind,
                [{"file_id": file_id, "file_unique_id": unique_id, "width": 800, "height": 600}]
                if kind == "photo"
                else {"file_id": file_id, "file_unique_id": unique_id},
            )

    def _send_photo(self, params: JSONDict) -> JSONDict:
        return self._send_media("photo", params)

    def _send_document(self, params: JSONDict) -> JSONDict:
        return self._send_media("document", params)

    def _send_media(self, kind: str, params: JSONDict) -> JSONDict:
        value = params.get(kind)
        # "attach://<name>" points into a multipart body, which never reaches this far.
        if not isinstance(value, str) or not value or value.startswith("attach://"):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"Bad Request: there is no {kind} in the request"
            )
        caption = visible_caption(params)
        entities = checked_entities(caption, params, "caption_entities")
        is_url = "." in value  # as TDLib's FileManager::from_persistent_id tells them apart
        if is_url and (problem := url_problem(value)) is not None:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"Bad Request: invalid file HTTP URL specified: {problem}"
            )

        def check() -> None:
            check_caption(caption)
            if is_url:
                # Telegram fetches the URL itself; one it could not fetch gives this 400.
                if value in self._state.refused_urls:
                    raise ApiError(HTTPStatus.BAD_REQUEST, WRONG_FILE)
                return
            stored = self._state.files.get(value)
            if stored is None:
                raise ApiError(HTTPStatus.BAD_REQUEST, WRONG_FILE)
            if stored.kind != kind:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    f"Bad Request: can't use file of type {stored.kind.title()} as {kind.title()}",
                )

        def content() -> JSONDict:
            stored = self._file_for_url(kind, value) if is_url else self._state.files[value]
            body: JSONDict = {kind: stored.content}
            if caption:
                body["caption"] = caption
            if entities:
                body["caption_entities"] = entities
            return body

        return self._post(
            "sendPhoto" if kind == "photo" else "sendDocument",
            params,
            text=caption,
            entities=entities,
            content=content,
            media=value,
            check=check,
        )

    def _file_for_url(self, kind: str, url: str) -> StoredFile:
        """The file Telegram made of `url` (caller holds the lock). Telegram keeps what it
        fetched, so the same URL gives the same file again; each file_id it answers with is
        accepted from then on."""
        state = self._state
        stored = state.files_by_url.get((kind, url))
        if stored is not None:
            return stored
        number = state.next_file
        state.next_file += 1
        file_id = f"{FILE_ID_PREFIX[kind]}{number:06d}"
        unique_id = f"{UNIQUE_ID_PREFIX[kind]}{number:06d}"
        if kind == "photo":
            sizes: list[JSONDict] = [
                {
                    "file_id": f"{file_id}{suffix}",
                    "file_unique_id": f"{unique_id}{suffix}",
                    "width": width,
                    "height": height,
                }
                for suffix, width, height in PHOTO_SIZES
            ]
            stored = StoredFile(kind, sizes)
            ids = [size["file_id"] for size in sizes]
        else:
            document: JSONDict = {"file_id": file_id, "file_unique_id": unique_id}
            name = posixpath.basename(unquote(urlsplit(url).path))
            if name:
                document["file_name"] = name
                mime_type, _ = mimetypes.guess_type(name)
                if mime_type:
                    document["mime_type"] = mime_type
            stored = StoredFile(kind, document)
            ids = [file_id]
        state.files_by_url[(kind, url)] = stored
        for issued in ids:
            state.files[issued] = stored
        return stored
