"""Authentication and authorisation use cases: roles, permissions, principals, login and token lifecycle."""
