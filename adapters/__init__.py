"""What talks to the outside world for the domain: tables, repositories, engines."""
