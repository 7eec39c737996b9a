-- Support load and web activity per customer, from the raw files.
with tickets as (
    select customer_id, count(*) as tickets
    from {{ source('raw', 'support_tickets') }}
    group by customer_id
),

visits as (
    select customer_id, count(*) as page_views
    from {{ source('raw', 'web_events') }}
    where event = 'page_view'
    group by customer_id
)

select
    c.customer_id,
    coalesce(t.tickets, 0) as tickets,
    coalesce(v.page_views, 0) as page_views
from {{ ref('stg_customers') }} as c
left join tickets as t using (customer_id)
left join visits as v using (customer_id)
