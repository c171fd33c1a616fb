"""A notification that names a template: checked when it is parsed (the template exists, `data`
has its variables, its actions render), and rendered for each reader just before the send, in
their language and time zone; a fan-out's recipients share the renders (once per language)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.formatting.entities import Formatted
from bot.notification.parsing import Parsed, describe_errors
from bot.notification.schema import MAX_ACTION_CHARS, Button, Notification
from bot.preferences import zone_of
from bot.templates.files import Template, Templates
from bot.templates.filters import Reader
from bot.templates.render import RenderError

UTC = ZoneInfo("UTC")
# A render kept for the readers who share it: the notification with its message and buttons,
# and its text as the chat shows it. Not a Parsed: one that points back to its Rendering makes
# a reference cycle, which only the garbage collector frees (18 objects a notification, kept
# until a full collection: measured in the bench's bursts).
Made = tuple[Notification, Formatted]


@dataclass
class Rendering:
    """A templated notification's template and data, and its renders so far by (language, time
    zone): shared by the copies a fan-out makes for its recipients."""

    template: Template
    data: Mapping[str, Any]
    actions: tuple[str, ...]  # rendered once: what a tap reports, whatever the language
    renders: dict[tuple[str, str | None], Made | RenderError] = field(default_factory=dict)


def actions_of(parsed: Parsed) -> list[str]:
    """What the action buttons of `parsed` report, in order: a template's rendered ones."""
    rendering = parsed.rendering
    if isinstance(rendering, Rendering):
        return list(rendering.actions)
    return parsed.notification.actions


class Templating:
    """Prepares and renders templated notifications (TEMPLATES_DIR). `default_language`
    (DEFAULT_LANGUAGE) comes after the user's pick and Telegram's language; `on_render` is
    told of each render made (not of one reused)."""

    def __init__(
        self,
        templates: Templates,
        *,
        default_language: str,
        max_chars: int,
        on_render: Callable[[], None] | None = None,
    ) -> None:
        self.templates = templates
        self.default_language = default_language
        self.max_chars = max_chars
        self.renders = 0
        self._on_render = on_render

    def prepare(self, parsed: Parsed) -> Parsed:
        """`parsed` ready to render, with the template's category when it names none;
        ValueError naming the template or the value that is wrong."""
        notification = parsed.notification
        name = notification.template
        if name is None or parsed.rendering is not None:
            return parsed
        template = self.templates.get(name)
        if template is None:
            known = ", ".join(sorted(t.name for t in self.templates)) or "none (TEMPLATES_DIR)"
            raise ValueError(f"template: {name!r} is not one of this bot's: {known}")
        data = notification.data or {}
        missing = sorted(template.variables - data.keys())
        if missing:
            raise ValueError(f"data.{missing[0]}: missing (template {name})")
        first = next(iter(template.languages))
        if notification.wants_reply and any(t.buttons for t in template.languages.values()):
            raise ValueError(
                f"reply: template {name} has buttons, and Telegram cannot show a reply field "
                "and buttons on one message"
            )
        reader = Reader(first, UTC)
        actions = []
        sources = [b.action for row in template.languages[first].buttons for b in row if b.action]
        for source in sources:
            try:
                action = self.templates.renderer.render_plain(source, data, reader)
            except RenderError as exc:
                raise ValueError(f"template {name}, an action: {exc}") from None
            if not action or len(action) > MAX_ACTION_CHARS:
                raise ValueError(
                    f"template {name}: an action renders to {len(action)} characters "
                    f"(1-{MAX_ACTION_CHARS})"
                )
            actions.append(action)
        if notification.category is None and template.category is not None:
            notification = notification.model_copy(update={"category": template.category})
        if notification.mute_button and notification.category is None:
            raise ValueError(f"mute_button: needs a category, and template {name} has none")
        return Parsed(notification, parsed.formatted, Rendering(template, data, tuple(actions)))

    def for_reader(
        self, parsed: Parsed, chosen: str | None, telegram: str | None, zone: str | None
    ) -> tuple[Parsed, str]:
        """`parsed` rendered for one reader, and the language it is in: `chosen` (the user's
        pick), else `telegram` (the language_code Telegram last reported), else
        DEFAULT_LANGUAGE, else the template's first. RenderError when it cannot be."""
        rendering = parsed.rendering
        if not isinstance(rendering, Rendering):
            return parsed, ""
        template = rendering.template
        language = template.language_for(chosen, telegram, self.default_language)
        key = (language, (zone or "UTC") if template.formats_times else None)
        made = rendering.renders.get(key)
        if made is None:
            made = self._render(parsed, rendering, language, key[1])
            rendering.renders[key] = made
        if isinstance(made, RenderError):
            # A new one each time: raising the kept one would grow its traceback with each
            # of a fan-out's recipients, and tie it (and the Rendering) in a cycle.
            raise RenderError(str(made))
        notification, formatted = made
        if notification.user_id != parsed.notification.user_id:
            # A fan-out's recipients share the render, each with their own fields.
            notification = parsed.notification.model_copy(
                update={
                    "message": notification.message,
                    "format": notification.format,
                    "buttons": notification.buttons,
                }
            )
        return Parsed(notification, formatted, rendering), language

    def _render(
        self, parsed: Parsed, rendering: Rendering, language: str, zone: str | None
    ) -> Made | RenderError:
        self.renders += 1
        if self._on_render is not None:
            self._on_render()
        template = rendering.template
        localized = template.languages[language]
        reader = Reader(language, UTC if zone is None else _zone(zone))
        try:
            rendered = self.templates.renderer.render(
                template.format,
                localized.message,
                localized.buttons,
                data=rendering.data,
                reader=reader,
                max_chars=self.max_chars,
            )
        except RenderError as exc:
            return RenderError(f"template {template.name} [{language}]: {exc}")
        text = rendered.formatted.text
        if not text.strip():
            return RenderError(f"template {template.name} [{language}]: renders to nothing")
        if len(text) > self.max_chars:
            return RenderError(
                f"template {template.name} [{language}]: {len(text)} characters once "
                f"rendered, over the limit of {self.max_chars} (MESSAGE_MAX_CHARS)"
            )
        actions = iter(rendering.actions)
        try:
            rows = [
                [
                    Button.model_validate(
                        {"text": button.text, "url": button.url}
                        if button.action is None
                        else {"text": button.text, "action": next(actions)}
                    )
                    for button in row
                ]
                for row in rendered.buttons
            ]
        except ValidationError as exc:
            return RenderError(
                f"template {template.name} [{language}], a button: {describe_errors(exc)}"
            )
        notification = parsed.notification.model_copy(
            update={"message": text, "format": template.format, "buttons": rows or None}
        )
        return notification, rendered.formatted


def _zone(name: str) -> ZoneInfo:
    try:
        return zone_of(name)
    except ValueError:
        return UTC
