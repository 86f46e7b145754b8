"""Placeholder: replaced by the real handler."""


def lambda_handler(event, context):
    return {"statusCode": 200, "body": "{}"}
