"""The catalog: accounts, tokens, images, variants, signing keys and upload slots (SQLAlchemy Core)."""
