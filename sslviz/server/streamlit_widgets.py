"""What the load test's Streamlit client records and which widgets it may touch.

`Page`, `Interaction` (one timed request) and `SessionError` are the client's records; `Widget`
reads a widget's proto (selectbox, radio, checkbox, slider) and draws another value for it, as a
browser would send it. A load test never changes a widget whose label or options say it would
download, delete, upload or stop something.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from streamlit.proto.Slider_pb2 import Slider
from streamlit.proto.WidgetStates_pb2 import WidgetState

# options a load test never picks: datasets that need a download or a path, not what it measures
UNSAFE_OPTIONS = re.compile(r"^(mnist|fashion-mnist|cifar10|cifar-10|svhn|stl10|folder:.*)$", re.I)
# widget labels a load test never changes
UNSAFE_LABELS = re.compile(r"delete|remove|password|confirm|upload|stop|cancel|overwrite", re.I)


@dataclass
class Page:
    name: str
    script_hash: str


@dataclass
class Interaction:
    session: int
    page: str
    kind: str  # open | navigate | widget | fragment | vote (a lesson step's answer submitted)
    start: float  # monotonic clock
    seconds: float
    ok: bool = True
    detail: str = ""


@dataclass
class SessionError:
    session: int
    page: str
    kind: str  # exception | compile_error | page_not_found | media | timeout | disconnect | connect | protocol
    message: str


@dataclass
class Widget:
    kind: str
    proto: object  # the element's widget proto (Selectbox, Radio, Checkbox, Slider; Button, never changeable)
    fragment_id: str = ""  # the fragment it is drawn in, if any

    def label(self) -> str:
        return self.proto.label

    def options(self) -> list[str]:
        return [o for o in getattr(self.proto, "options", []) if not UNSAFE_OPTIONS.match(o)]

    def changeable(self) -> bool:
        p = self.proto
        if p.form_id or p.disabled or getattr(p, "ignore_rerun", False) or UNSAFE_LABELS.search(p.label):
            return False
        if self.kind in ("selectbox", "radio"):
            return len(self.options()) >= 2
        if self.kind == "slider":
            if p.type == Slider.SELECT_SLIDER:
                return len(self.options()) >= 2
            return p.data_type in (Slider.INT, Slider.FLOAT) and p.max > p.min
        return self.kind == "checkbox"

    def new_state(self, current: WidgetState | None, rng: random.Random) -> WidgetState:
        """Another value than the current one, as the browser would send it."""
        p, state = self.proto, WidgetState(id=self.proto.id)
        if self.kind in ("selectbox", "radio"):
            now = current.string_value if current else (p.raw_value if p.set_value else _nth(p.options, p.default))
            state.string_value = rng.choice([o for o in self.options() if o != now] or self.options())
        elif self.kind == "checkbox":
            now = current.bool_value if current else (p.value if p.set_value else p.default)
            state.bool_value = not now
        elif p.type == Slider.SELECT_SLIDER:
            picks = sorted(rng.sample(range(len(self.options())), 2 if len(p.default) == 2 else 1))
            state.string_array_value.data.extend(self.options()[i] for i in picks)
        else:
            steps = max(1, int(round((p.max - p.min) / (p.step or 1))))
            picks = sorted(rng.sample(range(steps + 1), min(steps + 1, 2 if len(p.default) == 2 else 1)))
            values = [min(p.max, p.min + i * (p.step or 1)) for i in picks]
            state.double_array_value.data.extend(float(int(v)) if p.data_type == Slider.INT else v for v in values)
        return state


def _nth(options, index: int) -> str:
    return options[index] if 0 <= index < len(options) else ""
