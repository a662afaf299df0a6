"""The durable outbox: chat messages stored first, then sent, retried and paced by a worker."""
