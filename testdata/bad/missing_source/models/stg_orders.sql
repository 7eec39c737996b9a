select *
from {{ source('raw', 'ordrs') }}
