instance-id: ${INSTANCE_ID}
local-hostname: ${NODE_NAME}
