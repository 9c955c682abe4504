"""What one role may do, as an immutable snapshot of the policy tables."""
from dataclasses import dataclass, field
from types import MappingProxyType

HIDDEN, MASKED, READONLY, EDITABLE = "hidden", "masked", "readonly", "editable"


@dataclass(frozen=True)
class Grant:
    role: str
    label: str
    row_scope: str  # own / team / all
    version: str
    actions: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # model -> frozenset
    columns: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # (model, column) -> access

    @property
    def key(self):
        return (self.role, self.version)

    def can(self, model, action):
        return action in self.actions.get(model, ())

    def access(self, model, column):
        """Columns without a rule are editable; the action flags still decide whether forms exist."""
        return self.columns.get((model, column), EDITABLE)

    def visible(self, model, column):
        return self.access(model, column) != HIDDEN

    def clear(self, model, column):
        """Visible in full: may be shown, sorted, filtered and searched by fragments."""
        return self.access(model, column) in (READONLY, EDITABLE)

    def writable(self, model, column):
        return self.access(model, column) == EDITABLE
