"""``/api/v1/users``: user administration (``users:manage``). Role changes and deactivation invalidate the
user's tokens at once (the token version is bumped)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from freeagentics.api.dependencies import ContainerDep
from freeagentics.api.errors import ApiError
from freeagentics.api.permissions import AuthServiceDep, Permission, Principal, require
from freeagentics.api.routers.auth import UserOut
from freeagentics.bootstrap import Container
from freeagentics.infra.db.repositories.tokens import RefreshTokenRepository, TokenRevocationRepository
from freeagentics.infra.db.repositories.users import UserRepository
from freeagentics.infra.logging import log_fields
from freeagentics.services.auth.ports import UsernameTakenError
from freeagentics.services.auth.rbac import Role
from freeagentics.services.auth.service import UserInputError, UserNotFoundError

router = APIRouter(prefix="/api/v1/users", tags=["users"])
logger = logging.getLogger(__name__)

UsersManager = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]


class CreateUserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    username: Annotated[str, Field(min_length=3, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: Role


class SetRoleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Role


class UserList(BaseModel):
    items: list[UserOut]
    total: int


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "No such user")


@router.get("", summary="List users")
async def list_users(
    principal: UsersManager,
    service: AuthServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserList:
    users = await service.users.list(limit, offset)
    return UserList(items=[UserOut.of(user) for user in users], total=await service.users.count())


@router.post("", status_code=201, summary="Create a user with a role")
async def create_user(
    body: CreateUserRequest, principal: UsersManager, service: AuthServiceDep, container: ContainerDep
) -> UserOut:
    try:
        user = await service.create_user(
            body.username,
            body.password,
            body.role,
            min_password_length=container.config.current.security_policies.password.min_length,
            actor=principal.username,
        )
    except UserInputError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    except UsernameTakenError:
        raise ApiError(409, "username_taken", "That username is taken") from None
    return UserOut.of(user)


@router.get("/{user_id}", summary="One user")
async def get_user(user_id: uuid.UUID, principal: UsersManager, service: AuthServiceDep) -> UserOut:
    user = await service.users.by_id(user_id)
    if user is None:
        raise _not_found()
    return UserOut.of(user)


@router.put("/{user_id}/role", summary="Change a user's role (their tokens stop working at once)")
async def set_role(
    user_id: uuid.UUID, body: SetRoleRequest, principal: UsersManager, service: AuthServiceDep
) -> UserOut:
    try:
        user = await service.set_role(user_id, body.role, actor=principal.username)
    except UserNotFoundError:
        raise _not_found() from None
    return UserOut.of(user)


@router.post("/{user_id}/deactivate", summary="Deactivate a user (their tokens stop working at once)")
async def deactivate(user_id: uuid.UUID, principal: UsersManager, service: AuthServiceDep) -> UserOut:
    try:
        user = await service.deactivate(user_id, actor=principal.username)
    except UserNotFoundError:
        raise _not_found() from None
    return UserOut.of(user)


async def security_startup_checks(container: Container) -> None:
    """Fail start without a signing key; with no users yet, say how to create the first admin.

    Nothing insecure is created on first start: there is no default account or password.
    """
    container.security.keys.signing_key()
    try:
        async with container.session_factory() as session:
            users = await UserRepository(session).count()
            # Rows of tokens that can no longer be valid are dead weight; drop them at each start.
            now = dt.datetime.now(dt.UTC)
            await RefreshTokenRepository(session).delete_expired(now)
            await TokenRevocationRepository(session).delete_expired(now)
            await session.commit()
    except (SQLAlchemyError, OSError):
        return  # the database is down; /health says so, and the hint waits for the next start
    if users == 0:
        logger.warning(
            "no_users: create the first admin with `freeagentics users create <name> --role admin`",
            extra=log_fields(hint="freeagentics users create <name> --role admin"),
        )
