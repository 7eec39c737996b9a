select
    c.customer_id,
    c.name,
    coalesce(r.revenue, 0) as revenue
from "shop"."analytics"."stg_customers" as c
left join "shop"."analytics_finance"."revenue" as r using (customer_id)
