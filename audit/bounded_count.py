"""Pagination that stays fast on tables of millions of rows.

Django's ``Paginator`` (and so the admin changelist) runs ``SELECT COUNT(*)`` over the
whole filtered queryset to number the pages. On the audit table that is a full scan
on every page view. ``BoundedPaginator`` counts at most ``cap + 1`` rows instead
(``SELECT COUNT(*) FROM (... LIMIT cap + 1)``), which stops as soon as it knows there
are "more than cap"; for the unfiltered table on PostgreSQL it shows the planner's
row estimate (``pg_class.reltuples``), which costs nothing. The trade-off: beyond the
cap the count and the last page number are not exact, so people narrow the list with
filters and search rather than paging to page 40,000 (whose OFFSET would be slow
anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

from . import config


class BoundedCount(int):
    """A row count that may be a lower bound or an estimate, and says so when shown.

    It is an ``int`` so that the paginator's and the admin's arithmetic and comparisons
    work unchanged; only its text differs: ``10,000+`` when capped, ``~3,400,000`` when
    estimated, the plain number when exact.
    """

    exact: bool
    estimated: bool

    def __new__(cls, value: int, *, exact: bool = True, estimated: bool = False) -> BoundedCount:
        count = super().__new__(cls, value)
        count.exact = exact
        count.estimated = estimated
        return count

    def __str__(self) -> str:
        if self.estimated:
            return f"~{int(self):,}"
        if not self.exact:
            return f"{int(self):,}+"
        return f"{int(self):,}"

    def __repr__(self) -> str:
        return f"BoundedCount({int(self)}, exact={self.exact}, estimated={self.estimated})"


def bounded_count(queryset: QuerySet[Any], cap: int | None = None) -> BoundedCount:
    """How many rows ``queryset`` has, counting no further than ``cap``.

    Returns the exact count when it is at most ``cap``; otherwise ``cap`` marked as
    a lower bound. The ordering is dropped: it changes nothing in a count and would
    make the database sort before limiting. ``cap`` defaults to ``AUDIT_ADMIN_COUNT_CAP``.
    """
    cap = config.admin_count_cap() if cap is None else cap
    found = queryset.order_by()[: cap + 1].count()
    if found > cap:
        return BoundedCount(cap, exact=False)
    return BoundedCount(found)


def table_estimate(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate for an unfiltered queryset on PostgreSQL, else None.

    ``reltuples`` is kept up to date by autovacuum/ANALYZE; it is -1 for a table never
    analysed, in which case there is no estimate.
    """
    query = queryset.query
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or query.where or query.combinator or query.distinct:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


if TYPE_CHECKING:
    _Paginator = Paginator[Any]  # generic for type checkers only (django-stubs)
else:
    _Paginator = Paginator


class BoundedPaginator(_Paginator):
    """A ``Paginator`` whose ``count`` never scans more than ``cap + 1`` rows."""

    cap: int | None = None  # AUDIT_ADMIN_COUNT_CAP

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return BoundedCount(len(self.object_list))
        counted = bounded_count(self.object_list, self.cap)
        if counted.exact:
            return counted
        estimate = table_estimate(self.object_list)
        if estimate is not None and estimate > int(counted):
            return BoundedCount(estimate, exact=False, estimated=True)
        return counted
