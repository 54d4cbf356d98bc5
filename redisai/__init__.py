"""redisai: the Python side of the redisai Redis module (backend dispatch).

Imported inside redis-server by the module itself; it imports nothing heavy so
that loading the module stays fast. Frameworks are imported on first use.
"""
