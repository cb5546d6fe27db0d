"""create_app(deps): the Quart-Trio application with every blueprint and convention."""

from __future__ import annotations

from quart_schema import QuartSchema
from quart_trio import QuartTrio

from monitor import __version__
from monitor.resources import templates_dir
from monitor.web import api_docs, static_assets
from monitor.web.api.alerts import instance_routes as alert_instances
from monitor.web.api.alerts import routes as alert_rules
from monitor.web.api.alerts import trial_routes as alert_trials
from monitor.web.api.audit import routes as audit
from monitor.web.api.channels import routes as channels
from monitor.web.api.dashboard import heatmap, overview, realtime, timeseries, top
from monitor.web.api.dashboards import routes as dashboards
from monitor.web.api.dashboards import widget_routes as widgets
from monitor.web.api.events import routes as events
from monitor.web.api.health import routes as health
from monitor.web.api.keys import routes as keys
from monitor.web.api.metrics import routes as metrics
from monitor.web.api.notifications import (
    delivery_routes,
    inhibition_routes,
    policy_routes,
    silence_routes,
)
from monitor.web.deps import EXTENSION_NAME, WebDeps
from monitor.web.edge.auth import SECURITY_SCHEMES
from monitor.web.edge.body_limits import gate_request_bodies
from monitor.web.edge.errors import register_error_handlers
from monitor.web.edge.handled_errors import forget_handled_tracebacks
from monitor.web.edge.html_compression import register_html_compression
from monitor.web.edge.query_checks import register_request_checks
from monitor.web.edge.rate_limits import register_rate_limits
from monitor.web.edge.request_log import count_in_flight, register_request_log
from monitor.web.edge.response_end import hold_disconnect_after_response
from monitor.web.edge.role_docs import RoleDocumentingProvider
from monitor.web.edge.security_headers import security_headers
from monitor.web.ui import alert_rule_editor_page as ui_alert_rule_editor
from monitor.web.ui import alert_rules_page as ui_alert_rules
from monitor.web.ui import alerts_page as ui_alerts
from monitor.web.ui import audit_page as ui_audit
from monitor.web.ui import channels_page as ui_channels
from monitor.web.ui import dashboard_layout_page as ui_dashboard_layout
from monitor.web.ui import dashboard_manage_page as ui_dashboard_manage
from monitor.web.ui import dashboards_page as ui_dashboards
from monitor.web.ui import delivery_log_page as ui_delivery_log
from monitor.web.ui import error_groups_page as ui_error_groups
from monitor.web.ui import events_page as ui_events
from monitor.web.ui import inhibition_rules_page as ui_inhibition_rules
from monitor.web.ui import keys_pages as ui_keys
from monitor.web.ui import metrics_page as ui_metrics
from monitor.web.ui import notification_policies_page as ui_notification_policies
from monitor.web.ui import overview as ui_overview
from monitor.web.ui import pages as ui_pages
from monitor.web.ui import session_routes as ui_sessions
from monitor.web.ui import silences_page as ui_silences
from monitor.web.ui import system_page as ui_system
from monitor.web.ui import widget_form_page as ui_widget_form
from monitor.web.ws import routes as live
from monitor.web.ws.direct import capture_websocket_send

API_PREFIX = "/api/v1"


def create_app(deps: WebDeps) -> QuartTrio:
    app = QuartTrio(
        "monitor",
        static_folder=None,  # web/static_assets.py: versioned names, precompressed
        template_folder=str(templates_dir()),
    )
    app.extensions[EXTENSION_NAME] = deps
    app.config["MAX_CONTENT_LENGTH"] = deps.settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    QuartSchema(
        app,
        info={"title": "monitor", "version": __version__},
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # /docs is web/api_docs.py: a complete HTML document
        redoc_ui_path=None,
        scalar_ui_path=None,
        security_schemes=SECURITY_SCHEMES,
        conversion_preference="pydantic",
        openapi_provider_class=RoleDocumentingProvider,
    )
    register_request_log(app)
    register_rate_limits(app)
    register_request_checks(app)
    count_in_flight(app, deps.counters)
    register_error_handlers(app)
    forget_handled_tracebacks(app)
    register_html_compression(app)
    # A client that sent up to twice the limit still reads its 413 (or 404, 405).
    gate_request_bodies(app, discard_limit=2 * deps.settings.max_request_bytes)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(api_docs.blueprint)
    app.register_blueprint(static_assets.blueprint)
    app.register_blueprint(keys.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(events.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(metrics.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(audit.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(realtime.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(dashboards.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(widgets.blueprint, url_prefix=f"{API_PREFIX}/dashboard")
    app.register_blueprint(alert_rules.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(alert_instances.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(alert_trials.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(policy_routes.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(silence_routes.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(inhibition_routes.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(delivery_routes.blueprint, url_prefix=API_PREFIX)
    app.register_blueprint(channels.blueprint, url_prefix=API_PREFIX)
    for dashboard_read in (
        overview.blueprint,
        top.blueprint,
        timeseries.blueprint,
        heatmap.blueprint,
    ):
        app.register_blueprint(dashboard_read, url_prefix=API_PREFIX + "/dashboard")
    app.register_blueprint(live.blueprint)
    app.register_blueprint(ui_sessions.blueprint)
    app.register_blueprint(ui_pages.blueprint)
    app.register_blueprint(ui_keys.blueprint)
    app.register_blueprint(ui_audit.blueprint)
    app.register_blueprint(ui_system.blueprint)
    app.register_blueprint(ui_overview.blueprint)
    app.register_blueprint(ui_events.blueprint)
    app.register_blueprint(ui_metrics.blueprint)
    app.register_blueprint(ui_error_groups.blueprint)
    app.register_blueprint(ui_dashboards.blueprint)
    app.register_blueprint(ui_dashboard_layout.blueprint)
    app.register_blueprint(ui_widget_form.blueprint)
    app.register_blueprint(ui_dashboard_manage.blueprint)
    app.register_blueprint(ui_alerts.blueprint)
    app.register_blueprint(ui_alert_rules.blueprint)
    app.register_blueprint(ui_alert_rule_editor.blueprint)
    app.register_blueprint(ui_silences.blueprint)
    app.register_blueprint(ui_channels.blueprint)
    app.register_blueprint(ui_notification_policies.blueprint)
    app.register_blueprint(ui_inhibition_rules.blueprint)
    app.register_blueprint(ui_delivery_log.blueprint)
    app.asgi_app = capture_websocket_send(app.asgi_app)  # type: ignore[method-assign,assignment]
    app.asgi_app = hold_disconnect_after_response(app.asgi_app)  # type: ignore[method-assign,assignment]
    app.asgi_app = security_headers(app.asgi_app)  # type: ignore[method-assign,assignment]
    app.url_map.merge_slashes = False  # `//` is a 404, not a redirect built from Host
    return app
