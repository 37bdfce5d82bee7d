"""What runs on the instance: the daemon protocol, daemon, server, live index, thin client."""
