# The largest modules are compiled first, while the ESP8266's heap is still in one piece:
# compiling them after the Wi-Fi wait fails on fragmentation with 20 KB nominally free.
import gc
from umqtt.simple2 import MQTTClient
gc.collect()
import service
gc.collect()
import app
gc.collect()
app.main()
