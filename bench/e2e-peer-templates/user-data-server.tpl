#cloud-config
# ${NODE_NAME}: k3s server of ${CLUSTER_NAME} (rendered by e2e-peer.sh with envsubst).
hostname: ${NODE_NAME}
preserve_hostname: false
manage_etc_hosts: true
write_files:
  - path: /etc/rancher/k3s/config.yaml
    permissions: "0600"
    content: |
      token: "${K3S_TOKEN}"
      node-name: "${NODE_NAME}"
      node-ip: "${NODE_IP}"
      tls-san:
        - "${NODE_IP}"
        - "${NODE_NAME}"
      write-kubeconfig-mode: "0600"
      pause-image: "docker.io/rancher/mirrored-pause:3.6"
  - path: /usr/local/sbin/k3s-bootstrap.sh
    permissions: "0755"
    content: |
      #!/bin/bash
      set -euo pipefail
      SEED_BASE=/usr/local/seed
      exec >>/var/log/k3s-bootstrap.log 2>&1
      [ -e /var/lib/k3s-bootstrap.done ] && exit 0
      if [ ! -f ${DOLLAR}SEED_BASE/payload/SHA256SUMS ]; then
        mnt=${DOLLAR}(mktemp -d)
        mount -o ro /dev/disk/by-label/cidata "${DOLLAR}mnt"
        mkdir -p ${DOLLAR}SEED_BASE
        cp -a "${DOLLAR}mnt/payload" ${DOLLAR}SEED_BASE/
        umount "${DOLLAR}mnt"
      fi
      ( cd ${DOLLAR}SEED_BASE/payload && sha256sum --quiet --strict -c SHA256SUMS )
      install -D -m 0644 ${DOLLAR}SEED_BASE/payload/pki/ca.crt /usr/local/share/ca-certificates/registry-ca.crt
      update-ca-certificates || true
      install -D -m 0644 ${DOLLAR}SEED_BASE/payload/pki/ca.crt /etc/rancher/k3s/registry-ca.crt
      install -D -m 0600 ${DOLLAR}SEED_BASE/payload/registries.yaml /etc/rancher/k3s/registries.yaml
      if [ -f ${DOLLAR}SEED_BASE/payload/bin/k3s ]; then
        install -D -m 0755 ${DOLLAR}SEED_BASE/payload/bin/k3s /usr/local/bin/k3s
      fi
      mkdir -p /var/lib/rancher/k3s/agent/images
      install -m 0644 ${DOLLAR}SEED_BASE/payload/images/* /var/lib/rancher/k3s/agent/images/
      for b in ${DOLLAR}SEED_BASE/payload/packages/*.tar.gz; do
        d=${DOLLAR}SEED_BASE/packages/${DOLLAR}(basename "${DOLLAR}b" .tar.gz)
        mkdir -p "${DOLLAR}d" && tar -xzf "${DOLLAR}b" -C "${DOLLAR}d"
        systemd-run --no-block /bin/bash "${DOLLAR}d/install.sh" || true
      done
      systemctl daemon-reload
      systemctl enable --now k3s.service
      touch /var/lib/k3s-bootstrap.done
  - path: /etc/systemd/system/k3s-bootstrap.service
    permissions: "0644"
    content: |
      [Unit]
      Description=k3s first-boot bootstrap
      Wants=network-online.target
      After=network-online.target cloud-final.service
      ConditionPathExists=!/var/lib/k3s-bootstrap.done
      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=/usr/local/sbin/k3s-bootstrap.sh
      TimeoutStartSec=0
      [Install]
      WantedBy=multi-user.target
  - path: /etc/systemd/system/k3s.service
    permissions: "0644"
    content: |
      [Unit]
      Description=Lightweight Kubernetes
      Wants=network-online.target
      After=network-online.target
      [Service]
      Type=notify
      KillMode=process
      Delegate=yes
      LimitNOFILE=1048576
      TimeoutStartSec=0
      Restart=always
      RestartSec=5s
      ExecStartPre=-/sbin/modprobe br_netfilter
      ExecStartPre=-/sbin/modprobe overlay
      ExecStart=/usr/local/bin/k3s server
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [systemctl, daemon-reload]
  - [systemctl, enable, --now, --no-block, k3s-bootstrap.service]
  - [touch, /var/lib/cloud-init-complete]
