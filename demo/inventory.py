"""What the demo holds: the platform's entities in their final state, with the earlier
values of the fields their history changes (``demo.history`` plays that history).

Plain data, kept apart from the planning code so it reads like the inventory it is.
Each ``Spec`` names its owner, project, sharing and comments by name; ``history``
lists a field's values oldest first, and the last one must equal ``fields`` (the
demo's tests check that the page state is the history's last word).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.models import (
    Connection,
    Entity,
    Job,
    Notebook,
    PredictiveModel,
    Project,
    Query,
    Script,
)


@dataclass
class Spec:
    """One demo entity: its final fields, the earlier values of some of them (oldest
    first; the last value is the one in ``fields``), whom it is shared with and
    whether it ends up published."""

    model: type[Entity]
    name: str
    owner: str
    fields: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[Any]] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    published: bool = False
    project: str | None = None
    connection: str | None = None
    queries: tuple[str, ...] = ()
    comments: tuple[tuple[str, str], ...] = ()  # (author, text)


def _sql(*lines: str) -> str:
    return "\n".join(lines)


PROJECTS = [
    Spec(
        Project,
        "Sales Q3",
        "alice",
        {"description": "Revenue, orders and top accounts for the third quarter."},
        {"description": ["Q3 revenue.", "Revenue, orders and top accounts for the third quarter."]},
        groups=("analysts",),
        comments=(("bob", "Added the regional split to the dashboard, have a look."),),
    ),
    Spec(
        Project,
        "Churn analysis",
        "bob",
        {"description": "Why customers leave: cohorts, signals and the churn classifier."},
        groups=("analysts", "viewers"),
    ),
    Spec(
        Project,
        "Clinical trial CT-204",
        "carol",
        {"description": "Enrollment and assay data of trial CT-204 (phase II)."},
        groups=("engineers",),
        users=("alice",),
    ),
    Spec(
        Project,
        "Marketing funnel",
        "alice",
        {"description": "Visits to paid accounts, by channel and week."},
        {
            "description": [
                "Funnel by channel.",
                "Visits to paid accounts, by channel and week.",
            ]
        },
        groups=("viewers",),
    ),
    Spec(
        Project,
        "Supply chain",
        "carol",
        {"description": "Inventory levels, reorder points and supplier lead times."},
        groups=("engineers", "analysts"),
    ),
    Spec(
        Project,
        "Assay results",
        "bob",
        {"description": "Compound activity from ChEMBL and the in-house assays."},
        groups=("engineers",),
    ),
]

CONNECTIONS = [
    Spec(
        Connection,
        "Northwind (PostgreSQL)",
        "carol",
        {
            "description": "Orders, customers and products of the Northwind shop.",
            "data_source": "postgres",
            "server": "northwind.db.internal",
            "port": 5432,
            "database": "northwind",
            "login": "analyst_ro",
            "password": "nw-2024-rotated",
        },
        {
            "server": ["10.20.0.15", "northwind.db.internal"],
            "password": ["nw-initial", "nw-2024-rotated"],
        },
        groups=("analysts", "engineers"),
        published=True,
        project="Sales Q3",
    ),
    Spec(
        Connection,
        "Warehouse (Snowflake)",
        "carol",
        {
            "description": "The analytics warehouse: sales, marketing and supply chain marts.",
            "data_source": "snowflake",
            "server": "acme-eu.snowflakecomputing.com",
            "port": 443,
            "database": "ANALYTICS",
            "login": "SVC_DATAGROK",
            "password": "wh-secret-2",
        },
        {"database": ["ANALYTICS_DEV", "ANALYTICS"], "password": ["wh-secret-1", "wh-secret-2"]},
        groups=("analysts", "engineers"),
        project="Supply chain",
    ),
    Spec(
        Connection,
        "ChEMBL (PostgreSQL)",
        "bob",
        {
            "description": "A local copy of ChEMBL 33.",
            "data_source": "postgres",
            "server": "chembl.db.internal",
            "port": 5432,
            "database": "chembl_33",
            "login": "chembl_reader",
            "password": "chembl-ro",
        },
        {"database": ["chembl_32", "chembl_33"]},
        groups=("engineers",),
        project="Assay results",
    ),
    Spec(
        Connection,
        "S3: lab-results",
        "admin",
        {
            "description": "Raw plate-reader exports of the lab.",
            "data_source": "s3",
            "server": "s3://acme-lab-results",
            "login": "AKIAIOSFODNN7EXAMPLE",
            "password": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        },
        groups=("engineers",),
        project="Clinical trial CT-204",
    ),
]

TOP_CUSTOMERS_V1 = _sql(
    "SELECT c.company_name, SUM(d.unit_price * d.quantity) AS revenue",
    "FROM customers c",
    "JOIN orders o ON o.customer_id = c.customer_id",
    "JOIN order_details d ON d.order_id = o.order_id",
    "GROUP BY c.company_name",
    "ORDER BY revenue DESC",
)
TOP_CUSTOMERS_V2 = _sql(
    "SELECT c.company_name, c.country,",
    "       SUM(d.unit_price * d.quantity * (1 - d.discount)) AS revenue",
    "FROM customers c",
    "JOIN orders o ON o.customer_id = c.customer_id",
    "JOIN order_details d ON d.order_id = o.order_id",
    "WHERE o.order_date >= @start_date",
    "GROUP BY c.company_name, c.country",
    "ORDER BY revenue DESC",
    "LIMIT @top",
)
FILTER_BIG = {"op": "filter", "column": "revenue", "condition": "> 10000"}
SORT_REVENUE = {"op": "sort", "column": "revenue", "descending": True}
ADD_SHARE = {"op": "add-column", "name": "share", "formula": "${revenue} / sum(${revenue})"}

QUERIES = [
    Spec(
        Query,
        "Top customers by revenue",
        "alice",
        {
            "description": "Customers ranked by net revenue since a start date.",
            "text": TOP_CUSTOMERS_V2,
            "parameters": {"start_date": "2024-07-01", "top": 50},
            "transformations": [FILTER_BIG, SORT_REVENUE, ADD_SHARE],
        },
        {
            "text": [TOP_CUSTOMERS_V1, TOP_CUSTOMERS_V2],
            "parameters": [{}, {"start_date": "2024-07-01", "top": 50}],
            "transformations": [[], [FILTER_BIG], [FILTER_BIG, SORT_REVENUE, ADD_SHARE]],
        },
        groups=("analysts",),
        users=("dave",),
        published=True,
        project="Sales Q3",
        connection="Northwind (PostgreSQL)",
        comments=(
            ("bob", "Should revenue be net of discounts? The finance numbers are."),
            ("alice", "Good point, I will switch it to net revenue."),
            ("dave", "Can we get the country in the result too?"),
        ),
    ),
    Spec(
        Query,
        "Orders last 30 days",
        "alice",
        {
            "text": _sql(
                "SELECT o.order_id, o.order_date, c.company_name, o.ship_country",
                "FROM orders o JOIN customers c ON c.customer_id = o.customer_id",
                "WHERE o.order_date >= CURRENT_DATE - INTERVAL '30 days'",
                "ORDER BY o.order_date DESC",
            ),
            "transformations": [{"op": "aggregate", "by": ["ship_country"], "count": "order_id"}],
        },
        {
            "transformations": [
                [],
                [{"op": "aggregate", "by": ["ship_country"], "count": "order_id"}],
            ]
        },
        groups=("analysts",),
        project="Sales Q3",
        connection="Northwind (PostgreSQL)",
    ),
    Spec(
        Query,
        "Churned accounts",
        "bob",
        {
            "description": "Accounts with no activity for 60 days after being active.",
            "text": _sql(
                "SELECT account_id, plan, last_active_at, mrr",
                "FROM marts.accounts",
                "WHERE last_active_at < CURRENT_DATE - @days",
                "  AND status = 'active'",
            ),
            "parameters": {"days": 60},
        },
        {
            "text": [
                _sql(
                    "SELECT account_id, plan, last_active_at",
                    "FROM marts.accounts",
                    "WHERE last_active_at < CURRENT_DATE - 90",
                ),
                _sql(
                    "SELECT account_id, plan, last_active_at, mrr",
                    "FROM marts.accounts",
                    "WHERE last_active_at < CURRENT_DATE - @days",
                    "  AND status = 'active'",
                ),
            ],
            "parameters": [{}, {"days": 60}],
        },
        groups=("analysts", "viewers"),
        project="Churn analysis",
        connection="Warehouse (Snowflake)",
        comments=(("carol", "60 days matches the definition in the churn classifier."),),
    ),
    Spec(
        Query,
        "Weekly active users",
        "bob",
        {
            "text": _sql(
                "SELECT date_trunc('week', event_time) AS week, COUNT(DISTINCT user_id) AS wau",
                "FROM marts.events GROUP BY 1 ORDER BY 1",
            ),
            "transformations": [{"op": "moving-average", "column": "wau", "window": 4}],
        },
        {"transformations": [[], [{"op": "moving-average", "column": "wau", "window": 4}]]},
        groups=("analysts", "viewers"),
        published=True,
        project="Marketing funnel",
        connection="Warehouse (Snowflake)",
    ),
    Spec(
        Query,
        "Compound activity by target",
        "carol",
        {
            "text": _sql(
                "SELECT md.chembl_id, td.pref_name AS target, act.standard_value AS ic50_nm",
                "FROM activities act",
                "JOIN molecule_dictionary md ON md.molregno = act.molregno",
                "JOIN assays a ON a.assay_id = act.assay_id",
                "JOIN target_dictionary td ON td.tid = a.tid",
                "WHERE act.standard_type = 'IC50' AND td.pref_name = @target",
            ),
            "parameters": {"target": "Epidermal growth factor receptor erbB1"},
            "transformations": [{"op": "log10", "column": "ic50_nm", "name": "pIC50"}],
        },
        {"transformations": [[], [{"op": "log10", "column": "ic50_nm", "name": "pIC50"}]]},
        groups=("engineers",),
        users=("bob",),
        project="Assay results",
        connection="ChEMBL (PostgreSQL)",
    ),
    Spec(
        Query,
        "Inventory below reorder point",
        "carol",
        {
            "text": _sql(
                "SELECT sku, warehouse, on_hand, reorder_point",
                "FROM marts.inventory WHERE on_hand < reorder_point",
                "ORDER BY reorder_point - on_hand DESC",
            )
        },
        groups=("engineers", "analysts"),
        project="Supply chain",
        connection="Warehouse (Snowflake)",
    ),
    Spec(
        Query,
        "Trial enrollment by site",
        "carol",
        {
            "text": _sql(
                "SELECT site_id, COUNT(*) AS enrolled, MIN(enrolled_at) AS first_patient",
                "FROM ct204.enrollment GROUP BY site_id ORDER BY enrolled DESC",
            )
        },
        groups=("engineers",),
        users=("alice",),
        project="Clinical trial CT-204",
        connection="Warehouse (Snowflake)",
    ),
    Spec(
        Query,
        "Funnel conversion by channel",
        "alice",
        {
            "text": _sql(
                "SELECT channel, visits, signups, paid,",
                "       paid::float / NULLIF(visits, 0) AS conversion",
                "FROM marts.funnel WHERE week >= @since",
            ),
            "parameters": {"since": "2024-06-01"},
        },
        groups=("viewers", "analysts"),
        project="Marketing funnel",
        connection="Warehouse (Snowflake)",
    ),
]

JOBS = [
    Spec(
        Job,
        "Nightly sales refresh",
        "alice",
        {
            "description": "Refreshes the sales queries and stores the results for the dashboard.",
            "schedule": "0 2 * * *",
            "transformations": [{"op": "join", "on": "company_name"}, SORT_REVENUE],
        },
        {
            "schedule": ["0 3 * * *", "0 2 * * *"],
            "transformations": [[], [{"op": "join", "on": "company_name"}, SORT_REVENUE]],
        },
        groups=("analysts",),
        project="Sales Q3",
        queries=("Top customers by revenue", "Orders last 30 days"),
    ),
    Spec(
        Job,
        "Assay import",
        "carol",
        {
            "description": "Imports the plate-reader exports of the day.",
            "schedule": "30 6 * * 1-5",
            "transformations": [{"op": "normalize", "method": "percent-of-control"}],
        },
        {
            "transformations": [
                [{"op": "normalize", "method": "z-score"}],
                [{"op": "normalize", "method": "percent-of-control"}],
            ]
        },
        groups=("engineers",),
        project="Assay results",
        queries=("Compound activity by target",),
    ),
    Spec(
        Job,
        "Weekly churn scoring",
        "bob",
        {
            "description": "Scores every active account with the churn classifier.",
            "schedule": "0 5 * * 1",
            "enabled": True,
        },
        {"enabled": [False, True]},
        groups=("analysts",),
        project="Churn analysis",
        queries=("Churned accounts",),
    ),
]

NORMALIZE_V1 = _sql(
    "#name: normalize_assays",
    "#language: python",
    "#input: dataframe plate",
    "#output: dataframe normalized",
    "normalized = plate.copy()",
    "normalized['value'] = (plate['value'] - plate['value'].mean()) / plate['value'].std()",
)
NORMALIZE_V2 = _sql(
    "#name: normalize_assays",
    "#language: python",
    "#input: dataframe plate",
    "#input: string control_column = 'control'",
    "#output: dataframe normalized",
    "controls = plate[plate['well_type'] == control_column]['value'].mean()",
    "normalized = plate.assign(percent=100 * plate['value'] / controls)",
)

SCRIPTS = [
    Spec(
        Script,
        "normalize_assays.py",
        "carol",
        {
            "description": "Percent-of-control normalization of a plate.",
            "language": "python",
            "body": NORMALIZE_V2,
            "parameters": {"control_column": "control"},
        },
        {"body": [NORMALIZE_V1, NORMALIZE_V2], "parameters": [{}, {"control_column": "control"}]},
        groups=("engineers",),
        published=True,
        project="Assay results",
        comments=(("bob", "Percent of control is what the lab reports, thanks."),),
    ),
    Spec(
        Script,
        "forecast_sales.R",
        "alice",
        {
            "description": "Twelve-week sales forecast with prophet.",
            "language": "r",
            "body": _sql(
                "#name: forecast_sales",
                "#language: r",
                "#input: dataframe sales",
                "#input: int horizon = 12",
                "library(prophet)",
                "m <- prophet(sales)",
                "future <- make_future_dataframe(m, periods = horizon, freq = 'week')",
                "forecast <- predict(m, future)",
            ),
            "parameters": {"horizon": 12},
        },
        groups=("analysts",),
        project="Sales Q3",
    ),
    Spec(
        Script,
        "dedupe_customers.py",
        "bob",
        {
            "language": "python",
            "body": _sql(
                "#name: dedupe_customers",
                "#language: python",
                "#input: dataframe customers",
                "#output: dataframe unique",
                "key = customers['company_name'].str.lower().str.strip()",
                "unique = customers.loc[~key.duplicated()]",
            ),
        },
        groups=("analysts",),
        project="Churn analysis",
    ),
    Spec(
        Script,
        "cluster_compounds.jl",
        "carol",
        {
            "language": "julia",
            "body": _sql(
                "#name: cluster_compounds",
                "#language: julia",
                "#input: dataframe fingerprints",
                "using Clustering",
                "result = kmeans(Matrix(fingerprints)', 8)",
            ),
            "parameters": {"k": 8},
        },
        {"parameters": [{"k": 5}, {"k": 8}]},
        groups=("engineers",),
        project="Assay results",
    ),
]

MODELS = [
    Spec(
        PredictiveModel,
        "Churn classifier",
        "bob",
        {
            "description": "Predicts churn in the next 60 days from usage and billing.",
            "method": "random-forest",
            "target": "churned",
            "features": ["plan", "mrr", "seats", "logins_30d", "tickets_90d", "tenure_months"],
            "parameters": {"n_estimators": 400, "max_depth": 12},
            "metrics": {"auc": 0.87, "precision": 0.71, "recall": 0.64},
        },
        {
            "features": [
                ["plan", "mrr", "logins_30d"],
                ["plan", "mrr", "seats", "logins_30d", "tickets_90d", "tenure_months"],
            ],
            "parameters": [
                {"n_estimators": 200, "max_depth": 8},
                {"n_estimators": 400, "max_depth": 12},
            ],
            "metrics": [
                {"auc": 0.79, "precision": 0.62, "recall": 0.55},
                {"auc": 0.87, "precision": 0.71, "recall": 0.64},
            ],
        },
        groups=("analysts", "viewers"),
        published=True,
        project="Churn analysis",
        comments=(
            ("alice", "Nice jump in AUC with the support tickets."),
            ("dave", "Which accounts does it flag this week?"),
        ),
    ),
    Spec(
        PredictiveModel,
        "Solubility regressor",
        "carol",
        {
            "method": "xgboost",
            "target": "log_solubility",
            "features": ["mol_weight", "logp", "tpsa", "h_donors", "h_acceptors", "rot_bonds"],
            "parameters": {"eta": 0.05, "max_depth": 6, "rounds": 800},
            "metrics": {"rmse": 0.61, "r2": 0.82},
        },
        {"metrics": [{"rmse": 0.74, "r2": 0.76}, {"rmse": 0.61, "r2": 0.82}]},
        groups=("engineers",),
        project="Assay results",
    ),
    Spec(
        PredictiveModel,
        "Demand forecaster",
        "alice",
        {
            "method": "gradient-boosting",
            "target": "units_sold",
            "features": ["week", "price", "promo", "region", "lag_1", "lag_4"],
            "parameters": {"learning_rate": 0.1, "n_estimators": 300},
            "metrics": {"mape": 0.112},
        },
        groups=("analysts", "engineers"),
        project="Supply chain",
    ),
]

NOTEBOOKS = [
    Spec(
        Notebook,
        "Churn exploration",
        "bob",
        {
            "environment": "python-3.11",
            "content": [
                {"type": "markdown", "source": "# Churn exploration\nCohorts by signup month."},
                {"type": "code", "source": "df = grok.data.query('Churned accounts')"},
                {"type": "code", "source": "df.groupby('plan')['mrr'].describe()"},
            ],
        },
        {
            "content": [
                [{"type": "markdown", "source": "# Churn exploration"}],
                [
                    {
                        "type": "markdown",
                        "source": "# Churn exploration\nCohorts by signup month.",
                    },
                    {"type": "code", "source": "df = grok.data.query('Churned accounts')"},
                    {"type": "code", "source": "df.groupby('plan')['mrr'].describe()"},
                ],
            ]
        },
        groups=("analysts",),
        project="Churn analysis",
    ),
    Spec(
        Notebook,
        "Assay QC",
        "carol",
        {
            "environment": "python-3.11",
            "content": [
                {"type": "markdown", "source": "# Plate QC\nZ' factor per plate; flag < 0.5."},
                {
                    "type": "code",
                    "source": "plates = grok.data.query('Compound activity by target')",
                },
                {
                    "type": "code",
                    "source": "zprime = 1 - 3 * (sd_pos + sd_neg) / abs(mu_pos - mu_neg)",
                },
            ],
        },
        groups=("engineers",),
        published=True,
        project="Assay results",
    ),
    Spec(
        Notebook,
        "Demand forecast",
        "alice",
        {
            "environment": "r-4.3",
            "content": [
                {"type": "markdown", "source": "# Demand forecast\nTwelve weeks ahead."},
                {"type": "code", "source": "fc <- forecast_sales(sales, horizon = 12)"},
            ],
        },
        groups=("analysts",),
        project="Supply chain",
    ),
]

ALL_SPECS = [*PROJECTS, *CONNECTIONS, *QUERIES, *JOBS, *SCRIPTS, *MODELS, *NOTEBOOKS]

COMMENT_POOL = (
    "Looks good to me.",
    "Ran it on the latest data: numbers match the report.",
    "Could we add a filter on region?",
    "This is slower than last week, is the warehouse busy?",
    "Thanks, using it in my dashboard now.",
)
