"""advanced-alchemy as its FastAPI examples use it: ``AdvancedAlchemy`` on the app with a
``SQLAlchemyAsyncConfig`` (asyncpg, ``expire_on_commit=False``), a repository service per model,
and each route given its services by ``alchemy.provide_service``: one session per request,
shared by that request's services, ended (rollback unless committed, close) by the provider.

Two settings chosen for fairness (bench/README.md): Stockroom's pool (10 per worker, no
overflow), and the commit made in the route, before the response (``commit_mode="manual"``
and ``auto_commit=True``). In "autocommit" mode the library commits after the response's
status has gone out: a client could get 201 for an order that then failed to commit, and
wrk's timing would leave the commit out.
"""

from typing import Annotated, Any

from advanced_alchemy.extensions.fastapi import (
    AdvancedAlchemy,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    repository,
    service,
)
from fastapi import Depends, FastAPI, Header, status
from sqlalchemy import select

from bench.baselines.common import Config, OrderIn, not_found, unauthenticated, user_id_from_header
from bench.baselines.models import Item, ItemOut, Order, OrderOut, User, new_order


class ItemService(service.SQLAlchemyAsyncRepositoryService[Item]):
    class Repo(repository.SQLAlchemyAsyncRepository[Item]):
        model_type = Item

    repository_type = Repo


class UserService(service.SQLAlchemyAsyncRepositoryService[User]):
    class Repo(repository.SQLAlchemyAsyncRepository[User]):
        model_type = User

    repository_type = Repo


class OrderService(service.SQLAlchemyAsyncRepositoryService[Order]):
    class Repo(repository.SQLAlchemyAsyncRepository[Order]):
        model_type = Order

    repository_type = Repo


def create_app() -> FastAPI:
    config = Config.from_env(default_size=10, default_overflow=0)
    app = FastAPI(title="advanced-alchemy")
    alchemy = AdvancedAlchemy(
        SQLAlchemyAsyncConfig(
            connection_string=config.database_url,
            engine_config=EngineConfig(
                pool_size=config.pool_size, max_overflow=config.max_overflow
            ),
            session_config=AsyncSessionConfig(expire_on_commit=False),
            commit_mode="manual",
        ),
        app=app,
    )
    items_service = Annotated[ItemService, Depends(alchemy.provide_service(ItemService))]
    users_service = Annotated[UserService, Depends(alchemy.provide_service(UserService))]
    orders_service = Annotated[OrderService, Depends(alchemy.provide_service(OrderService))]

    async def current_user(
        users: users_service, authorization: Annotated[str | None, Header()] = None
    ) -> User:
        user_id = user_id_from_header(authorization, config.secret_key)
        user = await users.get_one_or_none(id=user_id)
        if user is None or not user.is_active:
            raise unauthenticated()
        return user

    @app.get("/items/{item_id}", response_model=ItemOut)
    async def read_item(item_id: int, items: items_service) -> Any:
        item = await items.get_one_or_none(id=item_id)
        if item is None:
            raise not_found(item_id)
        return items.to_schema(item, schema_type=ItemOut)

    @app.post("/orders/", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
    async def place_order(
        body: OrderIn,
        user: Annotated[User, Depends(current_user)],
        items: items_service,
        orders: orders_service,
    ) -> Any:
        wanted = body.wanted()
        locked = select(Item).where(Item.sku.in_(wanted)).order_by(Item.id).with_for_update()
        order = new_order(user.id, await items.get_many(statement=locked), wanted)
        # The lines are in the session already: no refresh (a SELECT more) to answer.
        order = await orders.create(order, auto_commit=True, auto_refresh=False)
        return orders.to_schema(order, schema_type=OrderOut)

    return app
