{{/*
Kafka TLS and SASL of the API, the worker and the operator (core/kafka/client.ts reads these).
- TLS: the CA bundle from kafka.tls.caSecret and the optional client certificate from the
  kubernetes.io/tls Secret kafka.tls.clientCertSecret, mounted read-only under /etc/flux-gate/kafka.
- SASL: one user per component (kafka.sasl.<component>.username); its password only ever comes
  from an existing Secret (valueFrom secretKeyRef), never from values.
Called with (dict "root" $ "component" "api|worker|operator").
*/}}
{{- define "flux-gate.kafkaCaDir" -}}/etc/flux-gate/kafka/ca{{- end -}}
{{- define "flux-gate.kafkaClientDir" -}}/etc/flux-gate/kafka/client{{- end -}}

{{- define "flux-gate.kafkaSecurityEnv" -}}
{{- $k := .root.Values.kafka -}}
{{- if $k.tls.enabled }}
- name: KAFKA_TLS
  value: "true"
{{- with $k.tls.caSecret.name }}
- name: KAFKA_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "flux-gate.kafkaCaDir" $) $k.tls.caSecret.key | quote }}
{{- end }}
{{- if $k.tls.clientCertSecret }}
- name: KAFKA_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "flux-gate.kafkaClientDir" $) | quote }}
- name: KAFKA_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "flux-gate.kafkaClientDir" $) | quote }}
{{- end }}
{{- end }}
{{- with $k.sasl.mechanism }}
{{- $user := get $k.sasl $.component }}
- name: KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $user.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user.existingSecret.name }}
      key: {{ $user.existingSecret.key }}
{{- end }}
{{- end -}}

{{- define "flux-gate.kafkaVolumes" -}}
{{- $tls := .Values.kafka.tls -}}
{{- if and $tls.enabled $tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $tls.caSecret.name }}
    items:
      - key: {{ $tls.caSecret.key }}
        path: {{ $tls.caSecret.key }}
{{- end }}
{{- if and $tls.enabled $tls.clientCertSecret }}
- name: kafka-client-cert
  secret:
    secretName: {{ $tls.clientCertSecret }}
    # The key is readable by the pod's group (podSecurityContext.fsGroup) only.
    defaultMode: 288 # 0440 in octal; decimal so every YAML parser reads the same number
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end -}}

{{- define "flux-gate.kafkaVolumeMounts" -}}
{{- $tls := .Values.kafka.tls -}}
{{- if and $tls.enabled $tls.caSecret.name }}
- name: kafka-ca
  mountPath: {{ include "flux-gate.kafkaCaDir" . }}
  readOnly: true
{{- end }}
{{- if and $tls.enabled $tls.clientCertSecret }}
- name: kafka-client-cert
  mountPath: {{ include "flux-gate.kafkaClientDir" . }}
  readOnly: true
{{- end }}
{{- end -}}
