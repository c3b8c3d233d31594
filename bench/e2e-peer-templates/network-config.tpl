version: 2
ethernets:
  primary:
    match:
      name: "e*"
    dhcp4: false
    addresses:
      - ${NODE_ADDRESS}
    routes:
      - to: default
        via: ${GATEWAY}
    nameservers:
      addresses:
        - ${NAMESERVER}
