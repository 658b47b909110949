"""The WeChat channel: the webhook and the customer-service push."""
