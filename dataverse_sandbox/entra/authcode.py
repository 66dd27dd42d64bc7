"""The interactive half of the authorization-code grant: authorize endpoint, login and consent pages, the redirect.

Order of checks follows Entra: the application and its ``redirect_uri`` are validated first and their failures
are shown on an HTML error page (never redirected, so an attacker cannot bounce errors to an arbitrary URI:
AADSTS700016, AADSTS900971, AADSTS50011); every later failure goes back to the validated redirect URI as
``error`` / ``error_description`` / ``state``. The user then signs in (unless a session exists), consents (unless
they did before, or ``prompt=consent``), and is redirected with ``code`` and ``state``. Applications registered
with ``auto_consent`` skip both pages and sign in as the ``login_hint`` user, the session's user, or the
directory's default user. ``prompt=none`` never shows a page (``login_required`` / ``interaction_required``).

Not for: redeeming codes (``token_endpoint.py``) or their storage (``grants.py``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.contracts import ClientRegistration, Clock, TokenEventRecorder
from dataverse_sandbox.entra import aadsts, errors, pages
from dataverse_sandbox.entra.directory import Directory, SandboxUser, TenantRef
from dataverse_sandbox.entra.grants import Authorization, GrantStore
from dataverse_sandbox.entra.interactions import InteractionStore, PendingSignIn, ResponseTarget
from dataverse_sandbox.entra.pkce import ChallengeMethod, check_challenge
from dataverse_sandbox.entra.scopes import DELEGATED_SCP, RequestedAccess, ResourceCatalogue
from dataverse_sandbox.entra.token_endpoint import Version

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "AuthorizationFlow"]

logger = logging.getLogger(__name__)

CSRF_COOKIE = "sandbox_csrf"
SESSION_COOKIE = "sandbox_sso"

_RESPONSE_MODES = ("query", "fragment", "form_post")
_PROMPTS = ("", "login", "none", "consent", "select_account", "admin_consent")
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


class AuthorizationFlow:
    """Serves ``/{tenant}/oauth2[/v2.0]/authorize``, ``/{tenant}/login`` and ``/{tenant}/consent``.

    :param directory: applications and users.
    :param catalogue: known resources.
    :param grants: issues authorization codes.
    :param interactions: pending sign-ins, sessions, consents.
    :param clock: the time source.
    :param stats: counts refusals.
    :param secure_cookies: mark cookies ``Secure`` (when the sandbox serves https).
    """

    def __init__(
        self,
        *,
        directory: Directory,
        catalogue: ResourceCatalogue,
        grants: GrantStore,
        interactions: InteractionStore,
        clock: Clock,
        stats: TokenEventRecorder,
        secure_cookies: bool = False,
    ) -> None:
        self._directory = directory
        self._catalogue = catalogue
        self._grants = grants
        self._interactions = interactions
        self._clock = clock
        self._stats = stats
        self._secure = secure_cookies

    # --- authorize ------------------------------------------------------------------------------------------

    def authorize(self, request: Request, tenant: TenantRef, version: Version) -> Response:
        """Start a sign-in.

        :raises EntraError: for failures shown on an error page (unknown client, bad redirect URI).
        """
        params = request.args if request.method == "GET" else request.form
        client_id = params.get("client_id", "").strip()
        if not client_id:
            raise aadsts.missing_parameter("client_id")
        registration = self._directory.client(client_id)
        if registration is None:
            raise aadsts.application_not_found(client_id, tenant.segment)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            raise aadsts.no_reply_address()
        if not self._directory.redirect_uri_allowed(registration, redirect_uri):
            raise aadsts.redirect_uri_not_registered(redirect_uri, registration.client_id)
        response_mode = params.get("response_mode") or "query"
        target = ResponseTarget(
            redirect_uri, response_mode if response_mode in _RESPONSE_MODES else "query", params.get("state")
        )
        try:
            if response_mode not in _RESPONSE_MODES:
                raise aadsts.unsupported_response_mode(response_mode)
            pending, prompt, hint = self._validate(params, request, tenant, version, registration, target)
            return self._proceed(request, pending, registration, prompt, hint)
        except errors.EntraError as error:
            return self._redirect_error(request, error, target)

    def _validate(
        self,
        params: Mapping[str, str],
        request: Request,
        tenant: TenantRef,
        version: Version,
        registration: ClientRegistration,
        target: ResponseTarget,
    ) -> tuple[PendingSignIn, str, str]:
        response_type = params.get("response_type", "").strip()
        if not response_type:
            raise aadsts.missing_parameter("response_type")
        if response_type != "code":
            raise aadsts.unsupported_response_type(response_type)
        access = self._requested_access(params, tenant, version)
        challenge: str | None = params.get("code_challenge") or None
        method: ChallengeMethod | None = None
        if challenge is not None:
            method = check_challenge(challenge, params.get("code_challenge_method") or None)
        prompt = params.get("prompt", "").strip()
        if prompt not in _PROMPTS:
            raise aadsts.invalid_parameter("prompt")
        pending = self._interactions.start(
            csrf=self._csrf_value(request),
            tenant=tenant,
            client_id=registration.client_id,
            target=target,
            access=access,
            version=version,
            nonce=params.get("nonce") or None,
            challenge=challenge,
            method=method,
            force_consent=prompt in ("consent", "admin_consent"),
        )
        return pending, prompt, params.get("login_hint", "").strip()

    def _requested_access(self, params: Mapping[str, str], tenant: TenantRef, version: Version) -> RequestedAccess:
        if version == "1.0":
            resource = params.get("resource", "").strip()
            if not resource:
                raise aadsts.missing_parameter("resource")
            access = self._catalogue.v1_resource(resource, tenant=tenant.segment, oidc_scope=params.get("scope", ""))
            # v1 always issues a refresh token for the code grant; recording it keeps a later v2 refresh rotating.
            return RequestedAccess(access.resource, access.oidc_scopes | {"offline_access"})
        if "resource" in params:
            raise aadsts.resource_parameter_not_supported()
        scope = params.get("scope", "").strip()
        if not scope:
            raise aadsts.missing_parameter("scope")
        return self._catalogue.delegated_scope(scope, tenant=tenant.segment)

    def _proceed(
        self, request: Request, pending: PendingSignIn, registration: ClientRegistration, prompt: str, hint: str
    ) -> Response:
        session_user = self._user(self._interactions.session_user(request.cookies.get(SESSION_COOKIE)))
        if registration.auto_consent:
            user = (self._directory.user_by_name(hint) if hint else None) or session_user
            user = user or self._directory.default_user
            if user is None:
                raise aadsts.login_required()
            return self._complete(pending, user)
        if prompt == "none":
            if session_user is None:
                raise aadsts.login_required()
            if not self._interactions.has_consent(session_user.object_id, registration.client_id):
                raise aadsts.consent_required(registration.client_id, registration.display_name)
            return self._complete(pending, session_user)
        if session_user is not None and prompt not in ("login", "select_account"):
            pending.user_id = session_user.object_id
            return self._after_sign_in(pending, registration, session_user)
        return self._page(
            pages.login_page(
                action=f"/{pending.tenant.segment}/login",
                ctx=pending.ctx,
                csrf=pending.csrf,
                client_name=registration.display_name,
                tenant_domain=self._directory.domain,
                user_name=hint,
            ),
            csrf=pending.csrf,
        )

    # --- login and consent forms ----------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        """Check the user name and password posted by the login page.

        :raises EntraError: for a bad method or an unknown/expired/forged sign-in (error page).
        """
        pending, registration = self._resume(request)
        user = self._directory.user_by_name(request.form.get("login", ""))
        password = request.form.get("passwd", "").encode("utf-8")
        if user is None or not hmac.compare_digest(password, user.password.encode("utf-8")):
            failure = aadsts.credentials_invalid()
            self._stats.record_refused(failure.code)
            logger.info("sign-in failed for client %s", registration.client_id)
            return self._page(
                pages.login_page(
                    action=f"/{pending.tenant.segment}/login",
                    ctx=pending.ctx,
                    csrf=pending.csrf,
                    client_name=registration.display_name,
                    tenant_domain=self._directory.domain,
                    user_name=request.form.get("login", ""),
                    error_message=f"AADSTS{failure.code}: {failure.message}",
                ),
                csrf=pending.csrf,
            )
        pending.user_id = user.object_id
        try:
            response = self._after_sign_in(pending, registration, user)
        except errors.EntraError as error:
            response = self._redirect_error(request, error, pending.target)
        response.set_cookie(
            SESSION_COOKIE,
            self._interactions.open_session(user.object_id),
            httponly=True,
            samesite="Lax",
            secure=self._secure,
            path="/",
        )
        return response

    def consent(self, request: Request) -> Response:
        """Apply the Accept / Cancel decision posted by the consent page.

        :raises EntraError: for a bad method, an unknown/expired/forged sign-in, or no signed-in user.
        """
        pending, registration = self._resume(request)
        user = self._user(pending.user_id)
        if user is None:
            raise aadsts.flow_expired("No user has signed in to this request.")
        decision = request.form.get("decision", "")
        if decision == "accept":
            self._interactions.grant_consent(user.object_id, registration.client_id)
            try:
                return self._complete(pending, user)
            except errors.EntraError as error:
                return self._redirect_error(request, error, pending.target)
        if decision == "cancel":
            self._interactions.finish(pending.ctx)
            return self._redirect_error(request, aadsts.user_declined_consent(), pending.target)
        raise aadsts.invalid_parameter("decision")

    def _resume(self, request: Request) -> tuple[PendingSignIn, ClientRegistration]:
        if request.method != "POST":
            raise aadsts.method_not_allowed(request.method)
        pending = self._interactions.resume(
            request.form.get("ctx", ""),
            cookie_csrf=request.cookies.get(CSRF_COOKIE),
            form_csrf=request.form.get("csrf"),
        )
        if pending is None:
            raise aadsts.flow_expired("The sign-in request is unknown or expired, or its cookie does not match.")
        registration = self._directory.client(pending.client_id)
        if registration is None:
            raise aadsts.application_not_found(pending.client_id, pending.tenant.segment)
        return pending, registration

    def _after_sign_in(self, pending: PendingSignIn, registration: ClientRegistration, user: SandboxUser) -> Response:
        if not pending.force_consent and self._interactions.has_consent(user.object_id, registration.client_id):
            return self._complete(pending, user)
        return self._page(
            pages.consent_page(
                action=f"/{pending.tenant.segment}/consent",
                ctx=pending.ctx,
                csrf=pending.csrf,
                client_name=registration.display_name,
                user_name=user.user_name,
                resource=pending.access.resource,
                permission=DELEGATED_SCP,
            ),
            csrf=pending.csrf,
        )

    # --- responses ------------------------------------------------------------------------------------------

    def _complete(self, pending: PendingSignIn, user: SandboxUser) -> Response:
        version: Version = "1.0" if pending.version == "1.0" else "2.0"
        authorization = Authorization(pending.client_id, user.object_id, pending.access, version, pending.nonce)
        code = self._grants.issue_code(
            authorization, redirect_uri=pending.target.redirect_uri, challenge=pending.challenge, method=pending.method
        )
        self._interactions.finish(pending.ctx)
        params = {"code": code}
        if pending.target.state is not None:
            params["state"] = pending.target.state
        if version == "1.0":
            params["session_state"] = str(uuid.uuid4())
        logger.info("authorization code issued to client %s", pending.client_id)
        return self._redirect(pending.target, params)

    def _redirect_error(self, request: Request, error: errors.EntraError, target: ResponseTarget) -> Response:
        self._stats.record_refused(error.code)
        logger.info("authorize refused: AADSTS%s %s", error.code, error.error)
        context = errors.ErrorContext(self._clock.now(), request.headers.get("client-request-id"))
        params = {"error": error.error, "error_description": errors.error_description(error, context)}
        if target.state is not None:
            params["state"] = target.state
        return self._redirect(target, params)

    def _redirect(self, target: ResponseTarget, params: dict[str, str]) -> Response:
        if target.response_mode == "form_post":
            nonce = secrets.token_urlsafe(16)
            response = Response(
                pages.form_post_page(action=target.redirect_uri, params=params, nonce=nonce),
                mimetype="text/html",
            )
            response.headers["Content-Security-Policy"] = f"{_PAGE_CSP}; script-src 'nonce-{nonce}'"
        else:
            encoded = urlencode(params)
            if target.response_mode == "fragment":
                location = f"{target.redirect_uri.split('#', 1)[0]}#{encoded}"
            else:
                separator = "&" if "?" in target.redirect_uri else "?"
                location = f"{target.redirect_uri}{separator}{encoded}"
            response = Response(status=302, headers={"Location": location})
        response.headers["Cache-Control"] = "no-store"
        return response

    def _page(self, html: str, *, csrf: str) -> Response:
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = _PAGE_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Lax", secure=self._secure, path="/")
        return response

    # --- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _csrf_value(request: Request) -> str:
        # Reuse the browser's anti-forgery cookie, so two tabs signing in at once do not invalidate each other.
        existing = request.cookies.get(CSRF_COOKIE, "")
        return existing if 32 <= len(existing) <= 64 and existing.isascii() else secrets.token_urlsafe(32)

    def _user(self, user_id: str | None) -> SandboxUser | None:
        return self._directory.user_by_id(user_id) if user_id else None
