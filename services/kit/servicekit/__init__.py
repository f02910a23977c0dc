"""Platform code shared by the auth and resource services.

Settings, logging, request ids, errors, metrics, health probes, the database
session and JWT verification live here once; domain code never does.
"""
