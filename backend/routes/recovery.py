"""Account recovery and verified addresses: the mailed links and what they open."""

from __future__ import annotations

from typing import Any

from flask_jwt_extended import jwt_required

from backend.auth import current_user_id
from backend.extensions import limiter
from backend.models import User
from backend.routes.auth import PUBLIC, RATE_LIMITED, auth_rate_limit, bp, user_key
from backend.schemas.auth import UserSchema
from backend.schemas.recovery import (
    AcceptedSchema,
    EmailVerificationSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
)
from backend.services import recovery

RESET_MAILED = "If an account has this address, a link to reset its password has been mailed to it."
VERIFICATION_MAILED = "A new verification link has been mailed; earlier links no longer work."


@bp.post("/auth/password-reset")  # type: ignore[arg-type] (flask-smorest serializes the body)
@limiter.limit(auth_rate_limit)
@bp.arguments(PasswordResetRequestSchema)
@bp.response(202, AcceptedSchema, headers=RATE_LIMITED)
@bp.problems(413, 415, 429, 503)
@bp.doc(security=PUBLIC)
def request_password_reset(body: dict[str, Any]) -> dict[str, str]:
    """Ask for a password reset link (the answer never tells whether the address has an account)."""
    recovery.request_password_reset(body["email"])
    return {"detail": RESET_MAILED}


@bp.post("/auth/password-reset/confirm")  # type: ignore[arg-type]
@limiter.limit(auth_rate_limit)
@bp.arguments(PasswordResetConfirmSchema)
@bp.response(204, headers=RATE_LIMITED)
@bp.problems(413, 415, 429)
@bp.doc(security=PUBLIC)
def confirm_password_reset(body: dict[str, Any]) -> None:
    """Set a new password with a mailed token (every session of the account is revoked)."""
    recovery.confirm_password_reset(body["token"], body["new_password"])


@bp.post("/auth/verify-email")  # type: ignore[arg-type]
@limiter.limit(auth_rate_limit)
@bp.arguments(EmailVerificationSchema)
@bp.response(200, UserSchema, headers=RATE_LIMITED)
@bp.problems(413, 415, 429)
@bp.doc(security=PUBLIC)
def verify_email(body: dict[str, Any]) -> User:
    """Verify your e-mail address with a mailed token."""
    return recovery.verify_email(body["token"])


@bp.post("/auth/verify-email/resend")
@jwt_required()
@limiter.limit(auth_rate_limit, key_func=user_key)
@bp.response(202, AcceptedSchema, headers=RATE_LIMITED)
@bp.problems(401, 409, 429, 503)
def resend_verification() -> dict[str, str]:
    """Have a new verification link mailed."""
    recovery.resend_verification(current_user_id())
    return {"detail": VERIFICATION_MAILED}
