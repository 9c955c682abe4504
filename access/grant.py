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
    # (model, column) of masked columns whose clear value this role may reveal for one record (查看明文)
    reveals: frozenset = field(default_factory=frozenset)

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

    def may_reveal(self, model, column):
        """查看明文: the column is masked for this role and its rule lets the role reveal one record's value on
        demand.  Lists, forms, exports, reports and mail stay masked: only the reveal endpoint asks this."""
        return self.access(model, column) == MASKED and (model, column) in self.reveals
