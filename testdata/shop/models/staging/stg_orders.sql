-- orders as loaded
select
    id as order_id,
    customer_id,
    ordered_at,
    status,
    {{ non_negative('amount') }} as amount
from {{ ref('shop', 'raw_orders') }}
