"""SCIM 2.0 provisioning: the company's identity provider creates, changes and removes Fieldbook
users and groups (RFC 7643/7644), through scim2-server over Fieldbook's own tables and commands."""
