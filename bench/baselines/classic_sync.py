"""Classic sync: the FastAPI tutorial's pattern.

``SessionLocal = sessionmaker(...)``, a ``get_db()`` dependency with ``yield`` and
``finally: db.close()``, and plain ``def`` endpoints (run in the threadpool) doing the CRUD
with ``db.query()``, on psycopg2, the tutorial's driver. Authentication decodes the same JWT
and loads the user, as the security tutorial does.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, status
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from bench.baselines.classic_models import Item, ItemOut, Order, OrderOut, User, new_order
from bench.baselines.common import Config, OrderIn, not_found, unauthenticated, user_id_from_header

config = Config.from_env()
engine = create_engine(
    config.database_url.replace("+asyncpg", "+psycopg2", 1),
    pool_size=config.pool_size,
    max_overflow=config.max_overflow,
)
SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=engine)


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


def get_current_user(
    db: Annotated[Session, Depends(get_db)],
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    user_id = user_id_from_header(authorization, config.secret_key)
    user = db.query(User).filter(User.id == user_id).first()
    if user is None or not user.is_active:
        raise unauthenticated()
    return user


app = FastAPI(title="classic sync")


@app.get("/items/{item_id}", response_model=ItemOut)
def read_item(item_id: int, db: Annotated[Session, Depends(get_db)]) -> Item:
    item = db.query(Item).filter(Item.id == item_id).first()
    if item is None:
        raise not_found(item_id)
    return item


@app.get("/items/", response_model=list[ItemOut])
def list_items(db: Annotated[Session, Depends(get_db)], skip: int = 0, limit: int = 100) -> list:
    return db.query(Item).order_by(Item.id).offset(skip).limit(min(limit, 100)).all()


@app.post("/orders/", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
def place_order(
    body: OrderIn,
    user: Annotated[User, Depends(get_current_user)],
    db: Annotated[Session, Depends(get_db)],
) -> Order:
    wanted = body.wanted()
    items = db.query(Item).filter(Item.sku.in_(wanted)).order_by(Item.id).with_for_update().all()
    order = new_order(user.id, items, wanted)
    db.add(order)
    db.commit()
    db.refresh(order)  # as the tutorial does; the lines reload lazily as the response is built
    return order


def create_app() -> FastAPI:
    return app
