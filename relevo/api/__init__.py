"""HTTP edge: FastAPI app factory, authentication and one router per resource."""
