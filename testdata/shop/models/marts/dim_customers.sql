select
    c.customer_id,
    c.name,
    coalesce(r.revenue, 0) as revenue
from {{ ref('stg_customers') }} as c
left join {{ ref('revenue') }} as r using (customer_id)
