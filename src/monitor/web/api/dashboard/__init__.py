"""The dashboard read model (/api/v1/dashboard/...) and dashboards with their widgets."""
