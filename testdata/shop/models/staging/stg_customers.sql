select id as customer_id, name, zip, vip
from {{ ref('raw_customers') }}
