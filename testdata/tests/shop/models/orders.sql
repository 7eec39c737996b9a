select order_id, customer_id, status, amount, coupon_code, ordered_at
from {{ ref('raw_orders') }}
