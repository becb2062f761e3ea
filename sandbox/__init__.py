"""The sandbox: generated stand-in upstream data and local servers for the upstream APIs."""
