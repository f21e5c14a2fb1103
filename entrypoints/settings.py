"""Configuration from the environment (prefix ``STOCKROOM_``) or a ``.env`` file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.database import PoolSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./stockroom.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKROOM_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    pool_size: int = Field(default=5, ge=1)
    pool_max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: int = Field(default=1800, ge=-1)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    echo_sql: bool = False

    @property
    def pool(self) -> PoolSettings:
        return PoolSettings(
            size=self.pool_size,
            max_overflow=self.pool_max_overflow,
            timeout=self.pool_timeout,
            recycle=self.pool_recycle,
        )
