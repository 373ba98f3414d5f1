"""The API's one router: /api/v1, the token guard, the caller, problem details for every error."""
from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.openapi.spec import Components, SecurityScheme

from helpdesk.web.api.access import provide_caller, rate_limit_headers, token_guard
from helpdesk.web.api.customers import CustomerController
from helpdesk.web.api.orders import OrderController
from helpdesk.web.api.organizations import OrganizationController
from helpdesk.web.api.problems import handlers
from helpdesk.web.api.tickets import TicketController

SECURITY_SCHEME = "api_token"
security_components = Components(security_schemes={
    SECURITY_SCHEME: SecurityScheme(type="http", scheme="bearer",
                                    description="An API token (console: Admin → API tokens; CLI: helpdesk tokens create)"),
})

api_router = Router(
    path="/api/v1",
    route_handlers=[CustomerController, OrganizationController, OrderController, TicketController],
    guards=[token_guard],
    dependencies={"caller": Provide(provide_caller, sync_to_thread=False)},
    exception_handlers=handlers,
    middleware=[rate_limit_headers],
    security=[{SECURITY_SCHEME: []}],
)
