"""Classic async: the tutorial's pattern with ``AsyncSession``.

``async_sessionmaker(expire_on_commit=False)``, ``async with SessionLocal() as db: yield db``
in the dependency, and ``async def`` endpoints doing the CRUD with ``select()``.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bench.baselines.common import Config, OrderIn, not_found, unauthenticated, user_id_from_header
from bench.baselines.models import Item, ItemOut, Order, OrderOut, User, new_order

config = Config.from_env()
engine = create_async_engine(
    config.database_url, pool_size=config.pool_size, max_overflow=config.max_overflow
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as db:
        yield db


async def get_current_user(
    db: Annotated[AsyncSession, Depends(get_db)],
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    user = await db.get(User, user_id_from_header(authorization, config.secret_key))
    if user is None or not user.is_active:
        raise unauthenticated()
    return user


app = FastAPI(title="classic async")


@app.get("/items/{item_id}", response_model=ItemOut)
async def read_item(item_id: int, db: Annotated[AsyncSession, Depends(get_db)]) -> Item:
    item = (await db.execute(select(Item).where(Item.id == item_id))).scalars().first()
    if item is None:
        raise not_found(item_id)
    return item


@app.post("/orders/", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
async def place_order(
    body: OrderIn,
    user: Annotated[User, Depends(get_current_user)],
    db: Annotated[AsyncSession, Depends(get_db)],
) -> Order:
    wanted = body.wanted()
    statement = select(Item).where(Item.sku.in_(wanted)).order_by(Item.id).with_for_update()
    order = new_order(user.id, list((await db.execute(statement)).scalars().all()), wanted)
    db.add(order)
    # The lines stay loaded after commit (expire_on_commit=False): no lazy load, which
    # AsyncSession could not do implicitly anyway.
    await db.commit()
    return order


def create_app() -> FastAPI:
    return app
